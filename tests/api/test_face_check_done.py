"""The page the face provider sends the phone back to says, in the reader's language, to return to the app."""


async def test_the_face_check_return_page_speaks_the_readers_language(client):
    page = await client.get("/face-check/done?BizToken=anything")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "请返回粤省事" in page.text and 'lang="zh-CN"' in page.text
    english = await client.get("/face-check/done", headers={"Accept-Language": "en"})
    assert "Go back to the app" in english.text
