import { publicProcedure } from "../../trpc";
import { healthHandler } from "./health.handler";
import { healthOutputSchema } from "./health.schema";

export const healthProcedure = publicProcedure.output(healthOutputSchema).query(healthHandler);
