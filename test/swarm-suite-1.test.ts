// Swarm seeds 1..500; see swarm-suite.ts.
import { swarmSuite } from './swarm-suite.js';

swarmSuite('swarm part 1', 1, 500);
