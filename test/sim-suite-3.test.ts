// Simulation seeds 1001..1500; see sim-suite.ts.
import { simulationSuite } from './sim-suite.js';

simulationSuite('simulation part 3', 1001, 500);
