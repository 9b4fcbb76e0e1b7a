-- Referrals made before channels were recorded: what their source tells (a code applied
-- from the dashboard was typed; the API and admins name themselves). A sign-up's channel
-- was not kept, so it stays 'unknown'. Before the triggers exist: no trigger watches channel.
UPDATE referrals SET channel = CASE source WHEN 'applied' THEN 'code' WHEN 'api' THEN 'api' WHEN 'admin' THEN 'admin' END
WHERE source IN ('applied', 'api', 'admin');
--> statement-breakpoint
-- channel_days, in bulk from what is there now.
INSERT INTO channel_days (day, channel, clicks)
SELECT created_at / 86400000, channel, count(*) FROM referral_clicks GROUP BY 1, 2;
--> statement-breakpoint
INSERT INTO channel_days (day, channel, signups, confirmed, credited)
SELECT r.created_at / 86400000, r.channel, count(*), sum(u.email_verified_at IS NOT NULL), sum(r.status = 'credited')
FROM referrals r JOIN users u ON u.id = r.referred_user_id
WHERE true
GROUP BY 1, 2
ON CONFLICT (day, channel) DO UPDATE SET signups = excluded.signups, confirmed = excluded.confirmed, credited = excluded.credited;
--> statement-breakpoint
-- A click counts on its own day and channel.
CREATE TRIGGER channel_days_click AFTER INSERT ON referral_clicks
BEGIN
  INSERT INTO channel_days (day, channel, clicks) VALUES (NEW.created_at / 86400000, NEW.channel, 1)
    ON CONFLICT (day, channel) DO UPDATE SET clicks = clicks + 1;
END;
--> statement-breakpoint
-- A referred sign-up counts on the day it was made; whether the person has confirmed
-- their address and whether the referral counts are kept on that same row (a cohort).
CREATE TRIGGER channel_days_signup AFTER INSERT ON referrals
BEGIN
  INSERT INTO channel_days (day, channel, signups, confirmed, credited)
    VALUES (
      NEW.created_at / 86400000, NEW.channel, 1,
      coalesce((SELECT email_verified_at IS NOT NULL FROM users WHERE id = NEW.referred_user_id), 0),
      NEW.status = 'credited'
    )
    ON CONFLICT (day, channel) DO UPDATE SET
      signups = signups + 1, confirmed = confirmed + excluded.confirmed, credited = credited + excluded.credited;
END;
--> statement-breakpoint
CREATE TRIGGER channel_days_status AFTER UPDATE OF status ON referrals
WHEN (OLD.status = 'credited') <> (NEW.status = 'credited')
BEGIN
  UPDATE channel_days SET credited = credited + CASE WHEN NEW.status = 'credited' THEN 1 ELSE -1 END
  WHERE day = NEW.created_at / 86400000 AND channel = NEW.channel;
END;
--> statement-breakpoint
CREATE TRIGGER channel_days_delete AFTER DELETE ON referrals
BEGIN
  UPDATE channel_days SET
    signups = signups - 1,
    confirmed = confirmed - coalesce((SELECT email_verified_at IS NOT NULL FROM users WHERE id = OLD.referred_user_id), 0),
    credited = credited - (OLD.status = 'credited')
  WHERE day = OLD.created_at / 86400000 AND channel = OLD.channel;
END;
--> statement-breakpoint
-- The referred person confirms their address (or an admin's edit unconfirms it).
CREATE TRIGGER channel_days_confirm AFTER UPDATE OF email_verified_at ON users
WHEN (OLD.email_verified_at IS NULL) <> (NEW.email_verified_at IS NULL)
BEGIN
  UPDATE channel_days SET confirmed = confirmed + CASE WHEN NEW.email_verified_at IS NULL THEN -1 ELSE 1 END
  WHERE (day, channel) IN (SELECT created_at / 86400000, channel FROM referrals WHERE referred_user_id = NEW.id);
END;
