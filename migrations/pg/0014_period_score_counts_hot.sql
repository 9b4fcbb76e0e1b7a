-- Every credit rewrites two period_score_counts rows (the group it leaves, the group it
-- joins). With `users` in the covering index of 0012, no rewrite could be a HOT update:
-- each left a dead index entry until a vacuum, and the month's totals and ranks walked
-- them on every request (16,640 after one benchmark run with autovacuum off, against 341
-- live rows). Without it, and with room kept on each page, a rewrite stays on its page
-- and leaves nothing in the index. (SQLite rewrites rows in place and keeps the index.)
DROP INDEX "period_score_counts_cover_idx";--> statement-breakpoint
ALTER TABLE "period_score_counts" SET (fillfactor = 50);--> statement-breakpoint
-- Rewrites the table so the existing rows get that room too (a few hundred rows per
-- month: instant; CLUSTER, unlike VACUUM FULL, may run in the migration's transaction).
CLUSTER "period_score_counts" USING "period_score_counts_period_score_pk";
