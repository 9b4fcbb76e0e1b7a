CREATE TABLE "referral_codes" (
	"code" text PRIMARY KEY NOT NULL,
	"user_id" integer NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "user_tokens" DROP CONSTRAINT "user_tokens_purpose_check";--> statement-breakpoint
ALTER TABLE "user_tokens" ADD COLUMN "payload" text;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "leaderboard_display" text DEFAULT 'name' NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "code_changed_at" bigint;--> statement-breakpoint
ALTER TABLE "referral_codes" ADD CONSTRAINT "referral_codes_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "user_tokens" ADD CONSTRAINT "user_tokens_purpose_check" CHECK ("user_tokens"."purpose" in ('password_reset', 'email_verify', 'login_link', 'email_change'));--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_leaderboard_display_check" CHECK ("users"."leaderboard_display" in ('name', 'initials', 'anonymous'));