// Extended FPU state sizing for the upcall entry (xsave with the XCR0 mask).
#pragma once

namespace domus::guest {

void init_fpu();

} // namespace domus::guest
