-- What an operator needs to know about a row's reason (the log line's `detail`: which check
-- failed, the product's oauth_problem, ...). Never a secret. NULL for rows written before.
ALTER TABLE audit ADD COLUMN detail TEXT;
