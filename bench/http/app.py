"""Reference 3 for bench/http/run.sh: the shape of the Python FastAPI service.

One uvicorn worker, `async def` handlers, pydantic validation. GET / returns the same
dict as our server's GET / (read from $BENCH_ROOT_JSON, the bytes fetched by run.sh).
"""
import json
import os
from typing import List

from fastapi import FastAPI
from pydantic import BaseModel

with open(os.environ["BENCH_ROOT_JSON"], "rb") as f:
    ROOT = json.loads(f.read())

app = FastAPI()


class Row(BaseModel):
    id: int
    name: str
    value: float
    active: bool
    tags: List[str]
    created_at: str


class EchoBody(BaseModel):
    rows: List[Row]


@app.get("/")
async def root():
    return ROOT


@app.get("/health/live")
async def live():
    return {"status": "ok"}


@app.post("/debug/echo")
async def echo(body: EchoBody):
    return {"rows": len(body.rows)}
