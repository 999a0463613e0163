-- 007_roles: least privilege for the daemons (docs/SECURITY.md). Each
-- daemon connects as its own role and may only read and write the rows of
-- the tables it uses: no DDL, no TRUNCATE, and only auth reads settings
-- (the token key). The roles themselves are made by whoever owns the
-- cluster (scripts/stack.sh, deploy/bootstrap.sh, compose/init-secrets.sh)
-- before the migrations run; a role that does not exist is skipped, and the
-- owner (who runs the migrations) keeps every right.
DO $$
DECLARE
  grants text[][] := ARRAY[
    ['qw_auth', 'settings, admins, admin_logins, login_attempts, sessions, students, join_refusals, join_known'],
    ['qw_session', 'quizzes, questions, sessions, students, answers, session_lease, join_refusals,'
                   ' session_settings'],
    ['qw_scoring', 'sessions, students, questions, answers']];
  i int;
BEGIN
  FOR i IN 1 .. array_length(grants, 1) LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = grants[i][1]) THEN
      EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), grants[i][1]);
      EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', grants[i][1]);
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', grants[i][2], grants[i][1]);
      EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', grants[i][1]);
    END IF;
  END LOOP;
END
$$;
