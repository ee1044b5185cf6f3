"""The baseline: a bare Sanic handler returning a small JSON object (no auth, no database).

`python -m bench.bare_sanic PORT [WORKERS]`: with more than one worker each process builds the
app through Sanic's AppLoader, as `python -m app --workers N` does.
"""

import sys

from sanic import Sanic, response


def create_baseline() -> Sanic:
    app = Sanic("bare_baseline")

    @app.get("/ping")
    async def ping(request):
        return response.json({"id": "c_baseline", "level": 1, "elderly_mode": False})

    return app


if __name__ == "__main__":
    port = int(sys.argv[1])
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    if workers == 1:
        create_baseline().run(host="127.0.0.1", port=port, single_process=True, access_log=False, motd=False)
    else:
        from sanic.worker.loader import AppLoader

        loader = AppLoader(factory=create_baseline)
        app = loader.load()
        app.prepare(host="127.0.0.1", port=port, workers=workers, access_log=False, motd=False)
        Sanic.serve(primary=app, app_loader=loader)
