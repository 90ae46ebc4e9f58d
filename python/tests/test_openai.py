"""The official `openai` package (PyPI, pinned in .ci/run) against `verity node --llm`:
a chat completion and a streamed one, whose receipts verify with the verity package, and
the node's 4xx errors surfacing as openai's exceptions."""

from __future__ import annotations

import os

import pytest

import verity

try:
    import openai
except ImportError:  # CI installs it (.ci/run) and must run these tests
    if os.environ.get("CI"):
        raise
    pytest.skip("the openai package is not installed (pip install openai==3.57.0)", allow_module_level=True)


@pytest.fixture()
def client(llm_node):
    with openai.OpenAI(base_url=llm_node.url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


def _verity(obj) -> dict:
    extra = obj.model_extra or {}
    assert "verity" in extra, f"no verity field in {obj}"
    return extra["verity"]


def test_models_are_listed_in_openai_shape(client, tiny_gguf):
    ids = [m.id for m in client.models.list()]
    assert len(ids) == 1 and len(ids[0]) == 64


def test_a_completion_and_its_receipt(client, tiny_gguf):
    r = client.chat.completions.create(
        model="tiny-llama",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
        max_tokens=8,
        temperature=0.7,
        seed=5,
    )
    assert r.object == "chat.completion"
    text = r.choices[0].message.content
    v = _verity(r)
    check = verity.verify_llm_receipt(v, tiny_gguf)
    assert check.text == text and check.seed == 5 and check.model_id == r.model
    assert r.usage.completion_tokens == len(check.tokens)
    assert r.usage.prompt_tokens == len(check.prompt_tokens)
    assert check.receipt_id == v["receipt_id"] and r.id == f"chatcmpl-{v['receipt_id']}"
    # The raw response carries the receipt id header.
    raw = client.chat.completions.with_raw_response.create(
        model="tiny-llama", messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "hello"}], max_tokens=3, temperature=0
    )
    assert raw.headers["x-verity-receipt-id"] == _verity(raw.parse())["receipt_id"]


def test_a_streamed_completion_and_its_receipt(client, tiny_gguf):
    kw = dict(model="tiny-llama", messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "tell me"}], max_tokens=16, temperature=0)
    whole = client.chat.completions.create(**kw)
    chunks = list(client.chat.completions.create(stream=True, **kw))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    last = chunks[-1]
    assert last.choices[0].finish_reason in ("stop", "length")
    check = verity.verify_llm_receipt(_verity(last), tiny_gguf)
    assert check.text == text
    assert last.usage is not None and last.usage.completion_tokens == len(check.tokens)


@pytest.mark.parametrize(
    "kw,status",
    [
        (dict(temperature=3.0), 400),
        (dict(top_p=0.0), 400),
        (dict(max_tokens=0), 400),
        (dict(max_tokens=100_000), 400),
        (dict(n=2), 400),
        (dict(messages=[]), 400),
        (dict(model="gpt-4o"), 404),
    ],
)
def test_errors_surface_as_openai_exceptions(client, kw, status):
    args = dict(model="tiny-llama", messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}], max_tokens=2)
    args.update(kw)
    cls = openai.NotFoundError if status == 404 else openai.BadRequestError
    with pytest.raises(cls) as e:
        client.chat.completions.create(**args)
    assert e.value.status_code == status
    body = e.value.body
    assert isinstance(body, dict) and body.get("message"), body
    # Streaming requests are refused the same way, before any event.
    with pytest.raises(cls):
        list(client.chat.completions.create(stream=True, **args))
