-- Every code a person has ever had, kept by triggers so no code path can forget it: the
-- primary key of referral_codes then refuses a code that is, or ever was, anyone's.
INSERT INTO "referral_codes" ("code", "user_id", "created_at") SELECT "referral_code", "id", "created_at" FROM "users";
--> statement-breakpoint
CREATE FUNCTION users_referral_codes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO referral_codes (code, user_id, created_at) VALUES (NEW.referral_code, NEW.id, NEW.created_at);
  ELSIF NEW.referral_code <> OLD.referral_code THEN
    INSERT INTO referral_codes (code, user_id, created_at) VALUES (NEW.referral_code, NEW.id, coalesce(NEW.code_changed_at, NEW.created_at));
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER users_referral_codes
AFTER INSERT OR UPDATE OF referral_code ON users
FOR EACH ROW EXECUTE FUNCTION users_referral_codes();
--> statement-breakpoint
-- How a ranked user is shown is part of the cached pages, like their name.
DROP TRIGGER users_leaderboard_version ON users;
--> statement-breakpoint
CREATE TRIGGER users_leaderboard_version
AFTER UPDATE OF referrals_count, status, name, last_referral_at, leaderboard_display ON users
FOR EACH ROW EXECUTE FUNCTION users_leaderboard_version();
