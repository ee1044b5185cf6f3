"""The everyday super-app: catalogue (事项, 一件事), search, home cards, applications (办件), appointments, ratings."""
