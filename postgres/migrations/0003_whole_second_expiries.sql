-- Key expiries are kept in whole seconds, as the API shows them, so that a
-- key is refused from the second shown (SPEC §9). Earlier versions kept
-- microseconds; round those down, the safe direction.
UPDATE api_keys SET expires_at = date_trunc('second', expires_at)
WHERE expires_at <> date_trunc('second', expires_at);
