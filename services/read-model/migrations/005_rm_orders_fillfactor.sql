-- An order's row is updated by most of its events. A page kept a quarter free takes the new
-- version beside the old one (a HOT update) whenever no indexed column changes (the steps,
-- the shipment, the times), so its four indexes are not touched. Applies to pages written
-- from now on.
ALTER TABLE rm_orders SET (fillfactor = 75);
