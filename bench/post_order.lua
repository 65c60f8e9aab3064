-- wrk script: POST /orders with the body of the SPEC example, on the bench SKU (plenty of
-- stock, so the saga that follows confirms and ships every order).
wrk.method = "POST"
wrk.body = '{"customerId":"c-bench","items":[{"sku":"SKU-BENCH-WIDGET","quantity":1}]}'
wrk.headers["Content-Type"] = "application/json"
