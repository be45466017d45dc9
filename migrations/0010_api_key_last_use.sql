-- When each API key was last used, to the minute, for `cartwright list-keys` (issue 14):
-- ops deciding which key to revoke need to know which ones are in use. Written by the
-- key look-up at most once a minute per key, so the hot path stays read-only.
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMPTZ;
