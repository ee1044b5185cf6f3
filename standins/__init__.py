"""Stand-ins for the outside parties, each a separate process speaking that party's published protocol."""
