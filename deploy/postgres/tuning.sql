-- Makes FerretDB 1.24's pushed-down equality filters use indexes. Applied by
-- deploy/infra.sh to the local PostgreSQL on every start (it is idempotent).
--
-- Why: FerretDB translates {field: value} into `_jsonb->'field' @> '"value"'`, but the
-- indexes it creates for createIndexes are btree, which cannot answer `@>`. So every
-- find, update and delete - even by _id - was a sequential scan: 70 ms for an _id
-- lookup among 100,000 documents. Each btree index FerretDB creates gets a GIN
-- companion over the same fields, which does answer `@>` (1.7 ms for that lookup).
--
-- The companions are built without GIN's pending list (fastupdate = off): with it, the
-- entries of recent inserts (up to 4 MB of them) wait in an unsorted list that every
-- lookup reads through until a vacuum merges it, and an _id lookup in a collection
-- being filled took 1.2-2.4 ms instead of 0.09 ms. Each insert now updates the GIN
-- tree at once, as a btree insert does.
--
-- FerretDB sends the field name as a parameter (`_jsonb->$1 @> $2`); a generic plan
-- cannot match an index on `_jsonb->'field'`, and PostgreSQL settles on one after five
-- executions of a statement. Custom plans (planned with the actual field name) cost a
-- fraction of a millisecond and keep the index in use.
ALTER DATABASE ferretdb SET plan_cache_mode = force_custom_plan;

CREATE OR REPLACE FUNCTION doithoai_gin_companion(idx oid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  info record;
  columns text[] := '{}';
  keys text[];
  name text;
  def text;
  k int;
BEGIN
  SELECT i.indnatts, i.indisunique, i.indpred IS NOT NULL AS partial,
         c.relname AS index_name, t.relname AS table_name, n.nspname AS schema_name,
         a.amname
    INTO info
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_am a ON a.oid = c.relam
   WHERE i.indexrelid = idx;
  IF NOT FOUND OR info.amname <> 'btree' OR info.table_name LIKE '\_ferretdb\_%' THEN
    RETURN;
  END IF;
  -- A btree that neither enforces uniqueness nor answers any of FerretDB's queries
  -- (they filter with @> and sort only by $natural) is a placeholder: empty (WHERE
  -- false), so that writes do not maintain it, and under the same name, so that
  -- FerretDB can still drop it. Its replacement comes back here as a placeholder and
  -- gets the companion. (Dropping it first drops an older companion, if any.)
  IF NOT info.indisunique AND NOT info.partial
     AND pg_get_indexdef(idx) LIKE '%_jsonb%' THEN
    def := pg_get_indexdef(idx);
    EXECUTE format('DROP INDEX %I.%I', info.schema_name, info.index_name);
    EXECUTE def || ' WHERE false';
    RETURN;
  END IF;
  FOR k IN 1..info.indnatts LOOP
    -- FerretDB's index columns look like (_jsonb -> 'a'::text) or, for a.b,
    -- ((_jsonb -> 'a'::text) -> 'b'::text); its filters use -> and #> '{a,b}'.
    SELECT array_agg(m[1]) INTO keys
      FROM regexp_matches(pg_get_indexdef(idx, k, true), '''([^'',{}]*)''::text', 'g') AS m;
    IF keys IS NULL OR pg_get_indexdef(idx, k, true) NOT LIKE '%_jsonb%' THEN
      RETURN;
    END IF;
    IF array_length(keys, 1) = 1 THEN
      columns := columns || format('(_jsonb -> %L) jsonb_path_ops', keys[1]);
    ELSE
      columns := columns || format('(_jsonb #> %L) jsonb_path_ops', '{' || array_to_string(keys, ',') || '}');
    END IF;
  END LOOP;
  name := left(info.index_name, 59) || '_gin';
  -- No pending list (see the top of the file), except over arrays of words, where one
  -- insert adds many entries and the list batches them.
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin (%s) WITH (fastupdate = %s)',
                 name, info.schema_name, info.table_name, array_to_string(columns, ', '),
                 CASE WHEN info.index_name LIKE '%\_gin\_only\_%' THEN 'on' ELSE 'off' END);
END $$;

CREATE OR REPLACE FUNCTION doithoai_on_create_index() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  cmd record;
BEGIN
  FOR cmd IN SELECT objid FROM pg_event_trigger_ddl_commands()
              WHERE command_tag = 'CREATE INDEX' AND object_type = 'index' LOOP
    PERFORM doithoai_gin_companion(cmd.objid);
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS doithoai_gin_companions;
CREATE EVENT TRIGGER doithoai_gin_companions ON ddl_command_end
  WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION doithoai_on_create_index();

-- FerretDB drops its own index by name; the companion goes with it.
CREATE OR REPLACE FUNCTION doithoai_on_drop_index() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  obj record;
BEGIN
  FOR obj IN SELECT schema_name, object_name FROM pg_event_trigger_dropped_objects()
              WHERE object_type = 'index' AND object_name NOT LIKE '%\_gin' LOOP
    EXECUTE format('DROP INDEX IF EXISTS %I.%I', obj.schema_name, left(obj.object_name, 59) || '_gin');
  END LOOP;
END $$;

DROP EVENT TRIGGER IF EXISTS doithoai_gin_drops;
CREATE EVENT TRIGGER doithoai_gin_drops ON sql_drop
  WHEN TAG IN ('DROP INDEX') EXECUTE FUNCTION doithoai_on_drop_index();

-- Indexes created before this file was applied: without a companion, or still a
-- full btree that could be a placeholder.
SELECT doithoai_gin_companion(i.indexrelid)
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_am a ON a.oid = c.relam
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE a.amname = 'btree'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
   AND (NOT EXISTS (SELECT 1 FROM pg_class g
                     WHERE g.relname = left(c.relname, 59) || '_gin'
                       AND g.relnamespace = c.relnamespace)
        OR (NOT i.indisunique AND i.indpred IS NULL));

-- Companions built before fastupdate = off: switched, and their pending lists merged.
DO $$
DECLARE
  idx record;
BEGIN
  FOR idx IN SELECT n.nspname, c.relname, c.oid
               FROM pg_class c
               JOIN pg_am a ON a.oid = c.relam
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE a.amname = 'gin' AND c.relname LIKE '%\_gin'
                AND c.relname NOT LIKE '%\_gin\_only\_%'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
                AND NOT coalesce(c.reloptions, '{}') @> '{fastupdate=off}' LOOP
    EXECUTE format('ALTER INDEX %I.%I SET (fastupdate = off)', idx.nspname, idx.relname);
    PERFORM gin_clean_pending_list(idx.oid);
  END LOOP;
END $$;
