-- Stock per SKU and one reservation per order. `reserved` counts units held for pending and
-- confirmed orders, so for every SKU: initial stock = available + reserved.
CREATE TABLE stock (
    sku       text PRIMARY KEY,
    available integer NOT NULL CHECK (available >= 0),
    reserved  integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    initial   integer NOT NULL
);

-- HELD: units taken; COMMITTED: the order was confirmed; RELEASED: given back on cancel;
-- REJECTED: out of stock, nothing taken; VOID: the cancel came first, never reserve.
CREATE TABLE reservations (
    order_id       uuid PRIMARY KEY,
    reservation_id uuid NOT NULL,
    status         text NOT NULL
                   CHECK (status IN ('HELD', 'COMMITTED', 'RELEASED', 'REJECTED', 'VOID')),
    items          jsonb NOT NULL DEFAULT '[]',
    reason         text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
