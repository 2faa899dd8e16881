-- Key expiries are kept in whole seconds, as the API shows them, so that a
-- key is refused from the second shown (SPEC §9). Earlier versions kept
-- microseconds; round those down, the safe direction.
UPDATE api_keys SET expires_at = expires_at - expires_at % 1000000
WHERE expires_at % 1000000 <> 0;
