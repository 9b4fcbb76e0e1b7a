-- What SQLite migration 0023 does, in PostgreSQL: period_scores carries a copy of its
-- user's name, display choice and status, so a month's leaderboard page reads one index
-- range (INCLUDE, which drizzle-kit does not express) with no join, as all time does.
DROP INDEX "period_scores_ranking_idx";--> statement-breakpoint
ALTER TABLE "period_scores" ADD COLUMN "name" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "period_scores" ADD COLUMN "leaderboard_display" text DEFAULT 'name' NOT NULL;--> statement-breakpoint
ALTER TABLE "period_scores" ADD COLUMN "status" text DEFAULT 'active' NOT NULL;--> statement-breakpoint
UPDATE "period_scores" s SET "name" = u."name", "leaderboard_display" = u."leaderboard_display", "status" = u."status"
  FROM "users" u WHERE u."id" = s."user_id";--> statement-breakpoint
CREATE INDEX "period_scores_user_idx" ON "period_scores" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "period_scores_ranking_idx" ON "period_scores" USING btree ("period", "referrals" DESC, "reached_at", "user_id")
  INCLUDE ("name", "leaderboard_display") WHERE status = 'active' AND referrals > 0;--> statement-breakpoint
-- Filled before the row is written (no second write), whatever inserts it.
CREATE FUNCTION period_scores_copy_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT u.name, u.leaderboard_display, u.status INTO NEW.name, NEW.leaderboard_display, NEW.status FROM users u WHERE u.id = NEW.user_id;
  RETURN NEW;
END $$;--> statement-breakpoint
CREATE TRIGGER period_scores_copy_user BEFORE INSERT ON period_scores
FOR EACH ROW EXECUTE FUNCTION period_scores_copy_user();--> statement-breakpoint
CREATE FUNCTION users_period_scores_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE period_scores SET name = NEW.name, leaderboard_display = NEW.leaderboard_display, status = NEW.status WHERE user_id = NEW.id;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER users_period_scores_copy AFTER UPDATE OF name, leaderboard_display, status ON users
FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.leaderboard_display IS DISTINCT FROM NEW.leaderboard_display OR OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION users_period_scores_copy();
