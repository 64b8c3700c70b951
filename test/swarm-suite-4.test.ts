// Swarm seeds 1501..2000; see swarm-suite.ts.
import { swarmSuite } from './swarm-suite.js';

swarmSuite('swarm part 4', 1501, 500);
