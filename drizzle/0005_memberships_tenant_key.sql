-- A members page is read from (tenant_id, id) only: the key becomes (tenant_id, id), the old key on
-- id alone (which let the planner walk every tenant's rows) and the now redundant index go.
ALTER TABLE "memberships" DROP CONSTRAINT "memberships_pkey";--> statement-breakpoint
DROP INDEX "memberships_tenant_id_idx";--> statement-breakpoint
ALTER TABLE "memberships" ADD CONSTRAINT "memberships_pkey" PRIMARY KEY("tenant_id","id");
