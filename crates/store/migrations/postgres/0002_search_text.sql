-- What list search matches: the searchable fields, ASCII lower-cased (lower() under
-- COLLATE "C" folds ASCII only, like SQLite), one per line. Stored, so the substring scan
-- (no B-tree index can serve '%x%') is one plain LIKE per row instead of five ILIKEs:
-- about 0.1 s instead of 0.7 s at 100,000 devices.
ALTER TABLE devices ADD COLUMN search_text TEXT COLLATE "C" NOT NULL
    GENERATED ALWAYS AS (lower((
        mac || chr(10) || name || chr(10) || sip_user || chr(10) ||
        coalesce(display_name, '') || chr(10) || coalesce(model, '')) COLLATE "C")) STORED;
