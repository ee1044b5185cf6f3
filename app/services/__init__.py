"""The everyday super-app, one package per domain: catalogue (事项, 一件事, search), applications (办件, 秒批),
appointments, ratings (好差评) and the home screen's cards. Each is used from outside through its `service` module.
"""
