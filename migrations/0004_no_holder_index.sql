-- No query looks licences up by holder yet, and this index made every new licence cost a
-- random write into a B-tree of 32-byte hashes, the largest index of the table: about half
-- of PostgreSQL's time per imported row (bench/README.md). The keyed hash stays on every
-- row, so an index can be built (concurrently) when a look-up by holder is added.
drop index if exists licenses_by_holder;
