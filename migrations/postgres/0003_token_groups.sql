-- The groups of a gateway token's creator, as a JSON array of names, recorded when the token
-- is made so that group rules and rate-limit overrides apply to the token as to its creator.
-- NULL: none recorded (made by an operator without naming groups).
ALTER TABLE gateway_tokens ADD COLUMN groups TEXT;
