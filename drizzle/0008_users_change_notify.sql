-- Every change to a users row tells the session caches of every instance (channel
-- tessera_sessions, payload user:<id>), whichever code path made it: the caches hold the user's
-- row, for authentication and for GET /v1/users/me, so a missed notification would leave a stale
-- answer. NOTIFY is transactional, so a rolled-back change is never announced.
CREATE FUNCTION tessera_notify_user_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tessera_sessions', 'user:' || OLD.id::text);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER users_change_notify
AFTER UPDATE OR DELETE ON users
FOR EACH ROW EXECUTE FUNCTION tessera_notify_user_change();
