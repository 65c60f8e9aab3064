-- Idempotency keys are unique among the orders that were given one. The unique constraint
-- indexed every order, NULL keys included: two index entries per order (its insert and its
-- status update, which cannot be HOT) for orders placed without a key, most of them. The
-- partial index holds only the keys given.
CREATE UNIQUE INDEX orders_idempotency_key_given ON orders (idempotency_key)
  WHERE idempotency_key IS NOT NULL;
ALTER TABLE orders DROP CONSTRAINT orders_idempotency_key_key;
