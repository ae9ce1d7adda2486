// Asio and Beast compiled once for the whole program (BOOST_ASIO_SEPARATE_COMPILATION,
// BOOST_BEAST_SEPARATE_COMPILATION): no other file includes these.
#include <utility>  // before Asio headers (Boost 1.74)

#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
