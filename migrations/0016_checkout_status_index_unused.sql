-- checkouts (status) served no query (issue 15): nothing looks checkouts up by status
-- alone (the reaper starts from held reservations, the capture guard from its own
-- partial index), yet every checkout row version wrote an entry into it: at intake, at
-- authorization and at settlement. Updates of a checkout's status stay non-HOT all the
-- same, because the capture guard's partial index names status in its predicate.
DROP INDEX checkouts_status_idx;
