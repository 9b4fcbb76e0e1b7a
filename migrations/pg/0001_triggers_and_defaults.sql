-- What the SQLite migrations 0002, 0005, 0007 and 0008 add by hand, in PostgreSQL.
--
-- The ranking index also carries the name, so a leaderboard page or an ?around=me seek
-- reads only the index (drizzle-kit does not express INCLUDE).
DROP INDEX IF EXISTS "users_ranking_idx";
--> statement-breakpoint
CREATE INDEX "users_ranking_idx" ON "users" ("referrals_count" DESC, "last_referral_at", "id") INCLUDE ("name")
  WHERE status = 'active' AND referrals_count > 0;
--> statement-breakpoint
-- Every app server caches leaderboard pages tagged with this version; a trigger bumps it
-- in the same statement as the change, so no code path can forget it.
INSERT INTO "app_state" ("key", "value") VALUES ('leaderboard_version', 0);
--> statement-breakpoint
CREATE FUNCTION users_leaderboard_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.referrals_count > 0 OR NEW.referrals_count > 0 THEN
    UPDATE app_state SET value = value + 1 WHERE key = 'leaderboard_version';
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER users_leaderboard_version
AFTER UPDATE OF referrals_count, status, name, last_referral_at ON users
FOR EACH ROW EXECUTE FUNCTION users_leaderboard_version();
--> statement-breakpoint
-- score_counts: per referral count, how many ranked users (active, count > 0) hold it,
-- kept exact in the same statement as every insert, update and delete of a user.
CREATE FUNCTION users_score_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'active' AND OLD.referrals_count > 0 THEN
    UPDATE score_counts SET users = users - 1 WHERE score = OLD.referrals_count;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.status = 'active' AND NEW.referrals_count > 0 THEN
    INSERT INTO score_counts (score, users) VALUES (NEW.referrals_count, 1)
      ON CONFLICT (score) DO UPDATE SET users = score_counts.users + 1;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER users_score_counts_insert AFTER INSERT ON users
FOR EACH ROW EXECUTE FUNCTION users_score_counts();
--> statement-breakpoint
CREATE TRIGGER users_score_counts_delete AFTER DELETE ON users
FOR EACH ROW EXECUTE FUNCTION users_score_counts();
--> statement-breakpoint
CREATE TRIGGER users_score_counts_update AFTER UPDATE OF referrals_count, status ON users
FOR EACH ROW EXECUTE FUNCTION users_score_counts();
--> statement-breakpoint
-- A fresh install shows progress out of the box (the same tiers as SQLite's 0005).
INSERT INTO "reward_tiers" ("name", "description", "threshold", "active", "created_at", "updated_at")
SELECT t.name, t.description, t.threshold, true, now_ms, now_ms
FROM (VALUES
  ('First friend', 'A thank-you shout-out for your first referral.', 1),
  ('Early access', 'Skip the waitlist: you get in before everyone else.', 3),
  ('Swag pack', 'Stickers and a T-shirt, shipped to you.', 5),
  ('Free month', 'One month of the paid plan, on us.', 10),
  ('Ambassador', 'A year free and a direct line to the team.', 25)
) AS t(name, description, threshold),
LATERAL (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms) AS clock;
