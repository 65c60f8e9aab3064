"""schemathesis hooks of `make api-fuzz` (loaded by schemathesis, not by pytest).

The order service's document shows an order of a seeded product; every example of it that
the fuzzer sends and the shop accepts is a real order whose confirmation uses up stock that
people and the browser tests see. The runner gives the fuzzer a product of its own, with
stock to spare, and names it in EVENTIFY_API_FUZZ_SKU; this hook puts that SKU into the
examples before any request is generated from them."""
import os

import schemathesis


def _with_sku(example, sku):
    if isinstance(example, dict) and isinstance(example.get("items"), list):
        for item in example["items"]:
            if isinstance(item, dict) and "sku" in item:
                item["sku"] = sku


@schemathesis.hook
def before_load_schema(context, raw_schema):
    sku = os.environ.get("EVENTIFY_API_FUZZ_SKU")
    operation = raw_schema.get("paths", {}).get("/orders", {}).get("post")
    if not sku or not operation:
        return
    for media in operation.get("requestBody", {}).get("content", {}).values():
        _with_sku(media.get("example"), sku)
        for named in media.get("examples", {}).values():
            _with_sku(named.get("value"), sku)
