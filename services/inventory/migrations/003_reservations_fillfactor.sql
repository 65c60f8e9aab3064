-- A reservation is updated after its insert (released, or committed with its order): a page
-- kept a quarter free takes the new version beside the old one (a HOT update), so the primary
-- key, the table's only index, is not touched again and vacuum has less to clean. Applies to
-- pages written from now on.
ALTER TABLE reservations SET (fillfactor = 75);
