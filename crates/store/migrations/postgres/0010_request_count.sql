-- How many identical requests a row stands for: repeats of the same request from the same
-- phone are folded into one row per interval instead of one row each (docs/decisions.md).
ALTER TABLE phone_requests ADD COLUMN request_count integer NOT NULL DEFAULT 1;
