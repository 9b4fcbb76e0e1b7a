-- Referrals made before channels were recorded: what their source tells (a code applied
-- from the dashboard was typed; the API and admins name themselves). A sign-up's channel
-- was not kept, so it stays 'unknown'. Before the triggers exist: no trigger watches channel.
UPDATE referrals SET channel = CASE source WHEN 'applied' THEN 'code' WHEN 'api' THEN 'api' WHEN 'admin' THEN 'admin' END
WHERE source IN ('applied', 'api', 'admin');
--> statement-breakpoint
INSERT INTO channel_days (day, channel, clicks)
SELECT created_at / 86400000, channel, count(*) FROM referral_clicks GROUP BY 1, 2;
--> statement-breakpoint
INSERT INTO channel_days (day, channel, signups, confirmed, credited)
SELECT r.created_at / 86400000, r.channel, count(*), count(u.email_verified_at), count(*) FILTER (WHERE r.status = 'credited')
FROM referrals r JOIN users u ON u.id = r.referred_user_id
GROUP BY 1, 2
ON CONFLICT (day, channel) DO UPDATE SET signups = excluded.signups, confirmed = excluded.confirmed, credited = excluded.credited;
--> statement-breakpoint
-- channel_days: the referral funnel per channel and UTC day (see schema.pg.ts), kept in
-- the transaction of every click, referral and confirmation.
CREATE FUNCTION referral_clicks_channel_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO channel_days (day, channel, clicks) VALUES (NEW.created_at / 86400000, NEW.channel, 1)
    ON CONFLICT (day, channel) DO UPDATE SET clicks = channel_days.clicks + 1;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER referral_clicks_channel_days AFTER INSERT ON referral_clicks
FOR EACH ROW EXECUTE FUNCTION referral_clicks_channel_days();
--> statement-breakpoint
CREATE FUNCTION referrals_channel_days() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was_confirmed integer;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT (email_verified_at IS NOT NULL)::int INTO was_confirmed FROM users WHERE id = NEW.referred_user_id;
    INSERT INTO channel_days (day, channel, signups, confirmed, credited)
      VALUES (NEW.created_at / 86400000, NEW.channel, 1, coalesce(was_confirmed, 0), (NEW.status = 'credited')::int)
      ON CONFLICT (day, channel) DO UPDATE SET
        signups = channel_days.signups + 1,
        confirmed = channel_days.confirmed + excluded.confirmed,
        credited = channel_days.credited + excluded.credited;
  ELSIF TG_OP = 'UPDATE' THEN
    IF (OLD.status = 'credited') <> (NEW.status = 'credited') THEN
      UPDATE channel_days SET credited = credited + CASE WHEN NEW.status = 'credited' THEN 1 ELSE -1 END
        WHERE day = NEW.created_at / 86400000 AND channel = NEW.channel;
    END IF;
  ELSE
    SELECT (email_verified_at IS NOT NULL)::int INTO was_confirmed FROM users WHERE id = OLD.referred_user_id;
    UPDATE channel_days SET
      signups = signups - 1,
      confirmed = channel_days.confirmed - coalesce(was_confirmed, 0),
      credited = credited - (OLD.status = 'credited')::int
      WHERE day = OLD.created_at / 86400000 AND channel = OLD.channel;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER referrals_channel_days_insert AFTER INSERT ON referrals
FOR EACH ROW EXECUTE FUNCTION referrals_channel_days();
--> statement-breakpoint
CREATE TRIGGER referrals_channel_days_update AFTER UPDATE OF status ON referrals
FOR EACH ROW EXECUTE FUNCTION referrals_channel_days();
--> statement-breakpoint
CREATE TRIGGER referrals_channel_days_delete AFTER DELETE ON referrals
FOR EACH ROW EXECUTE FUNCTION referrals_channel_days();
--> statement-breakpoint
-- The referred person confirms their address (or an admin's edit unconfirms it).
CREATE FUNCTION users_channel_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (OLD.email_verified_at IS NULL) <> (NEW.email_verified_at IS NULL) THEN
    UPDATE channel_days c SET confirmed = c.confirmed + CASE WHEN NEW.email_verified_at IS NULL THEN -1 ELSE 1 END
      FROM referrals r
      WHERE r.referred_user_id = NEW.id AND c.day = r.created_at / 86400000 AND c.channel = r.channel;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER users_channel_days AFTER UPDATE OF email_verified_at ON users
FOR EACH ROW EXECUTE FUNCTION users_channel_days();
