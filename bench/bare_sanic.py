"""The baseline: a bare Sanic handler returning a small JSON object (no auth, no database)."""

import sys

from sanic import Sanic, response

app = Sanic("bare_baseline")


@app.get("/ping")
async def ping(request):
    return response.json({"id": "c_baseline", "level": 1, "elderly_mode": False})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), single_process=True, access_log=False, motd=False)
