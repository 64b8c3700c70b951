// Swarm seeds 1001..1500; see swarm-suite.ts.
import { swarmSuite } from './swarm-suite.js';

swarmSuite('swarm part 3', 1001, 500);
