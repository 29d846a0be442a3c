-- A request is recorded once. The ledger writer may append a record again
-- when it replays its spool (records kept while the database could not take
-- them), also after a crash in the middle of a replay; inserts skip a
-- request id already stored (ON CONFLICT (request_id) ... DO NOTHING).
--
-- Request ids are random per request, so existing rows are not expected to
-- share one; should some (non-empty) do, the later rows keep their data and
-- get their row id appended ("<id>#<row>") so that the index can be built.
-- Empty request ids are left out of the index.
UPDATE requests SET request_id = request_id || '#' || id
WHERE request_id != ''
  AND id NOT IN (SELECT MIN(id) FROM requests WHERE request_id != '' GROUP BY request_id);
DROP INDEX requests_request_id;
CREATE UNIQUE INDEX requests_request_id ON requests (request_id) WHERE request_id != '';
