"""A stand-in for Tencent Cloud API 3.0, its own process: `python -m standins.tencent_cloud --port 0`.

    python -m standins.tencent_cloud --port 0 [--host 127.0.0.1] [--secret-id ... --secret-key ...]
        [--sms-sdk-app-id ...] [--voice-sdk-app-id ...] [--sign-name ...]

It prints `LISTENING <port>` once bound and serves until SIGTERM/SIGINT. Defaults are the app's settings
(APP_TENCENT_SECRET_ID, APP_TENCENT_SECRET_KEY, APP_SMS_SDK_APP_ID, APP_VOICE_SDK_APP_ID, APP_SMS_SIGN_NAME
when set, else the Settings defaults), so an app left at its defaults is accepted. It answers, over the
published protocol (signed TC3-HMAC-SHA256 POSTs to `/`, replies `{"Response": {...}}`):
sms `SendSms` 2021-01-11, vms `SendCodeVoice` 2020-09-02, faceid `IdCardVerification`, `DetectAuth` and
`GetDetectInfoEnhanced` 2018-03-01. Approved SMS templates are ours (DEFAULT_TEMPLATE_IDS, plus the ids of
APP_SMS_TEMPLATE_IDS); the people the identity authority knows are the 示例 residents of
sample_people.json and those added with `POST /_standin/people`.

server.py: the HTTP side, faults and the `/_standin/` control and inspection routes; provider.py: the
state and each action's answers, with the choices made where the provider's documents are silent;
control.py: the synchronous test-and-dev client (`TencentStandIn`).
"""
