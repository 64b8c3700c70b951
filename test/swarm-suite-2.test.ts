// Swarm seeds 501..1000; see swarm-suite.ts.
import { swarmSuite } from './swarm-suite.js';

swarmSuite('swarm part 2', 501, 500);
