import { createSessionRoutes } from "../../../server/session-routes";

/** One per server process, shared by the session route handlers (its rate limits live in memory). */
export const sessionRoutes = createSessionRoutes();
