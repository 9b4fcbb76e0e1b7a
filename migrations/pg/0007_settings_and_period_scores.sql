CREATE TABLE "app_settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "period_score_counts" (
	"period" integer NOT NULL,
	"score" integer NOT NULL,
	"users" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "period_score_counts_period_score_pk" PRIMARY KEY("period","score")
);
--> statement-breakpoint
CREATE TABLE "period_scores" (
	"period" integer NOT NULL,
	"user_id" integer NOT NULL,
	"referrals" integer DEFAULT 0 NOT NULL,
	"reached_at" bigint NOT NULL,
	CONSTRAINT "period_scores_period_user_id_pk" PRIMARY KEY("period","user_id")
);
--> statement-breakpoint
ALTER TABLE "period_scores" ADD CONSTRAINT "period_scores_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "period_scores_ranking_idx" ON "period_scores" USING btree ("period","referrals" desc,"reached_at","user_id") WHERE referrals > 0;