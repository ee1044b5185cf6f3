"""Stand-ins for the department systems on the data exchange (人社, 住房公积金, 交管), one process:
`python -m standins.departments --port 0`.

server.py checks, signs, logs and answers the exchange; people.py, hrss.py, hpf.py and tpb.py derive each
department's sample records from the ID number; control.py is the test client of the `/_standin/` controls;
registration.py is what `make run` needs to start it and load its registry.
"""
