-- A saga row is updated by every event of its order. A page kept a quarter free takes the new
-- version beside the old one (a HOT update) whenever the state column, which the deadline
-- index's predicate reads, stays the same, so neither index is touched. Applies to pages
-- written from now on.
ALTER TABLE sagas SET (fillfactor = 75);
