// Simulation seeds 1..500; see sim-suite.ts.
import { simulationSuite } from './sim-suite.js';

simulationSuite('simulation part 1', 1, 500);
