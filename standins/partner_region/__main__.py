from standins.partner_region.server import main

main()
