-- A fresh install shows progress out of the box. Admins edit or deactivate these on
-- /admin/rewards; nothing else depends on their names.
INSERT INTO `reward_tiers` (`name`, `description`, `threshold`, `active`, `created_at`, `updated_at`) VALUES
  ('First friend', 'A thank-you shout-out for your first referral.', 1, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  ('Early access', 'Skip the waitlist: you get in before everyone else.', 3, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  ('Swag pack', 'Stickers and a T-shirt, shipped to you.', 5, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  ('Free month', 'One month of the paid plan, on us.', 10, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER)),
  ('Ambassador', 'A year free and a direct line to the team.', 25, 1, CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));
