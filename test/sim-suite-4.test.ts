// Simulation seeds 1501..2000; see sim-suite.ts.
import { simulationSuite } from './sim-suite.js';

simulationSuite('simulation part 4', 1501, 500);
