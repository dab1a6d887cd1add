"""A console visitor for tests: its own cookie jar, CSRF token taken from the last page, form posts."""

from __future__ import annotations

import re

import httpx

from hongyan.api.app import create_app
from hongyan.services.platform import Platform

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


class Visitor:
    def __init__(self, platform: Platform, ip: str = "127.0.0.1") -> None:
        app = create_app(platform.settings, platform=platform)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://console.test"
        )
        self.token = ""

    async def __aenter__(self) -> Visitor:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.http.aclose()

    async def get(self, path: str, **kw) -> httpx.Response:
        r = await self.http.get(path, **kw)
        if m := CSRF.search(r.text):
            self.token = m.group(1)
        return r

    async def post(self, path: str, data: dict | None = None, *, csrf: bool = True, **kw) -> httpx.Response:
        if csrf and not self.token:
            await self.get("/console/login")
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.token
        r = await self.http.post(path, data=form, **kw)
        if m := CSRF.search(r.text):
            self.token = m.group(1)
        return r

    async def register(self, username: str, phone: str = "13800138000", password: str = "correct-horse") -> None:
        await self.get("/console/register")
        r = await self.post(
            "/console/register",
            {"username": username, "phone": phone, "password": password, "password2": password},
        )
        assert r.status_code == 303, r.text
        await self.get("/console/")

    async def login(self, username: str, password: str) -> httpx.Response:
        await self.get("/console/login")
        r = await self.post("/console/login", {"username": username, "password": password})
        if r.status_code == 303:
            await self.get("/console/")
        return r
